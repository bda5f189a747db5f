-- EMQX 4.x / EMQX Cloud v4 sample schema for PostgreSQL (the tables of the Cloud v4 guides and of
-- emqx_auth_pgsql's mqtt.sql), for the /emqx4/* routes with the 4.x queries shown in the README.
CREATE TABLE IF NOT EXISTS mqtt_user (
  id           SERIAL PRIMARY KEY,
  username     CHARACTER VARYING(100) UNIQUE,
  password     CHARACTER VARYING(100),
  salt         CHARACTER VARYING(40),
  is_superuser BOOLEAN DEFAULT false,
  created      TIMESTAMP WITHOUT TIME ZONE DEFAULT now()
);

-- One row per rule; EMQX 4 judges the returned rows from the LAST to the first (LEGACY_ROW_ORDER).
--   allow:  1 allow, 0 deny             access: 1 subscribe, 2 publish, 3 both
--   who:    username '$all' is everyone; otherwise the non-NULL of ipaddr (address or CIDR),
--           username and clientid must all match
--   topic:  MQTT filter with %u / %c as whole levels, or "eq <topic>" for an exact match
CREATE TABLE IF NOT EXISTS mqtt_acl (
  id       SERIAL PRIMARY KEY,
  allow    INTEGER DEFAULT 1,
  ipaddr   CHARACTER VARYING(60),
  username CHARACTER VARYING(100),
  clientid CHARACTER VARYING(100),
  access   INTEGER NOT NULL,
  topic    CHARACTER VARYING(100) NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS mqtt_acl_ipaddr_idx ON mqtt_acl (ipaddr);
CREATE INDEX IF NOT EXISTS mqtt_acl_username_idx ON mqtt_acl (username);
CREATE INDEX IF NOT EXISTS mqtt_acl_clientid_idx ON mqtt_acl (clientid);
