-- mqtt-auth built-in store (PostgreSQL and embedded PGlite), created by `mqtt-auth migrate`.
-- Safe to run again: every statement is IF NOT EXISTS.

-- One row per user. user_id is a username or a client id, as BUILTIN_USER_ID_TYPE says.
CREATE TABLE IF NOT EXISTS mqtt_builtin_user (
  user_id       VARCHAR(255)  NOT NULL PRIMARY KEY CHECK (user_id <> ''),
  password_hash VARCHAR(1024) NOT NULL,
  salt          VARCHAR(255)  NOT NULL DEFAULT '',
  is_superuser  BOOLEAN       NOT NULL DEFAULT FALSE
);

-- ACL rules for one client id, one username, or all clients (who_type 'all', who '').
-- Evaluated client id rules first, then username rules, then rules for all; in id order within each.
-- qos '0,1,2' and retain 'all' mean no condition.
CREATE TABLE IF NOT EXISTS mqtt_builtin_acl (
  id         BIGSERIAL    PRIMARY KEY,
  who_type   VARCHAR(8)   NOT NULL CHECK (who_type IN ('clientid', 'username', 'all')),
  who        VARCHAR(255) NOT NULL DEFAULT '',
  permission VARCHAR(5)   NOT NULL CHECK (permission IN ('allow', 'deny')),
  action     VARCHAR(9)   NOT NULL CHECK (action IN ('publish', 'subscribe', 'all')),
  topic      VARCHAR(255) NOT NULL,
  qos        VARCHAR(5)   NOT NULL DEFAULT '0,1,2',
  retain     VARCHAR(5)   NOT NULL DEFAULT 'all' CHECK (retain IN ('true', 'false', 'all')),
  CONSTRAINT mqtt_builtin_acl_who CHECK ((who_type = 'all') = (who = '')),
  CONSTRAINT mqtt_builtin_acl_rule UNIQUE (who_type, who, action, topic, qos, retain)
);
