-- mqtt-auth built-in store (MySQL 8 / MariaDB 10.5+), created by `mqtt-auth migrate`.
-- Safe to run again: every statement is IF NOT EXISTS. User ids, owners and topics are VARBINARY
-- (UTF-8 bytes, up to 255 characters), so they compare byte for byte: under a text collation, even
-- utf8mb4_bin, 'alice ' would equal 'alice' (PAD SPACE) and 'Alice' might too.

-- One row per user. user_id is a username or a client id, as BUILTIN_USER_ID_TYPE says.
CREATE TABLE IF NOT EXISTS mqtt_builtin_user (
  user_id       VARBINARY(1020) NOT NULL PRIMARY KEY,
  password_hash VARCHAR(1024) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  salt          VARCHAR(255)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  is_superuser  BOOLEAN       NOT NULL DEFAULT FALSE,
  CONSTRAINT mqtt_builtin_user_id CHECK (user_id <> '')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- ACL rules for one client id, one username, or all clients (who_type 'all', who '').
-- Evaluated client id rules first, then username rules, then rules for all; in id order within each.
-- qos '0,1,2' and retain 'all' mean no condition.
CREATE TABLE IF NOT EXISTS mqtt_builtin_acl (
  id         BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  who_type   VARCHAR(8)   NOT NULL,
  who        VARBINARY(1020) NOT NULL DEFAULT '',
  permission VARCHAR(5)   NOT NULL,
  action     VARCHAR(9)   NOT NULL,
  topic      VARBINARY(1020) NOT NULL,
  qos        VARCHAR(5)   NOT NULL DEFAULT '0,1,2',
  retain     VARCHAR(5)   NOT NULL DEFAULT 'all',
  CONSTRAINT mqtt_builtin_acl_rule UNIQUE (who_type, who, action, topic, qos, retain),
  CONSTRAINT mqtt_builtin_acl_who CHECK ((who_type = 'all') = (who = '')),
  CONSTRAINT mqtt_builtin_acl_who_type CHECK (who_type IN ('clientid', 'username', 'all')),
  CONSTRAINT mqtt_builtin_acl_permission CHECK (permission IN ('allow', 'deny')),
  CONSTRAINT mqtt_builtin_acl_action CHECK (action IN ('publish', 'subscribe', 'all')),
  CONSTRAINT mqtt_builtin_acl_retain CHECK (retain IN ('true', 'false', 'all'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
