-- Reference schema for PostgreSQL (the defaults of AUTHN_QUERY and AUTHZ_QUERY read these tables).
CREATE TABLE IF NOT EXISTS mqtt_user (
  id            BIGSERIAL PRIMARY KEY,
  username      VARCHAR(100) NOT NULL UNIQUE,
  password_hash VARCHAR(255) NOT NULL,
  salt          VARCHAR(64),
  is_superuser  BOOLEAN NOT NULL DEFAULT false,
  created       TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per rule, evaluated in id order; the first matching row decides.
--   permission: allow | deny            action: publish | subscribe | all (or pub, sub)
--   topic:      MQTT filter, "eq <topic>" for an exact match, placeholders ${username}, ${clientid} ...
--   qos:        NULL (any) or a list such as '0,1'      retain: NULL (any), true or false (publish only)
CREATE TABLE IF NOT EXISTS mqtt_acl (
  id         BIGSERIAL PRIMARY KEY,
  username   VARCHAR(100) NOT NULL,
  permission VARCHAR(5)   NOT NULL CHECK (permission IN ('allow', 'deny')),
  action     VARCHAR(9)   NOT NULL CHECK (action IN ('publish', 'subscribe', 'all', 'pub', 'sub')),
  topic      VARCHAR(255) NOT NULL,
  qos        VARCHAR(5),
  retain     BOOLEAN
);
CREATE INDEX IF NOT EXISTS mqtt_acl_username_idx ON mqtt_acl (username);
