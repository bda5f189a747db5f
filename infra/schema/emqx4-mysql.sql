-- EMQX 4.x / EMQX Cloud v4 sample schema for MySQL / MariaDB (the tables of the Cloud v4 guides and
-- of emqx_auth_mysql's mqtt.sql), for the /emqx4/* routes with the 4.x queries shown in the README.
-- Usernames and client ids are VARBINARY here (the guides use VARCHAR): they compare byte for byte,
-- so 'Alice' or 'alice ' never equals 'alice' (see the README's Schema section).
CREATE TABLE IF NOT EXISTS mqtt_user (
  id           INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username     VARBINARY(100) UNIQUE,
  password     VARCHAR(100),
  salt         VARCHAR(35),
  is_superuser TINYINT(1) DEFAULT 0,
  created      DATETIME DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per rule; EMQX 4 judges the returned rows from the LAST to the first (LEGACY_ROW_ORDER).
--   allow:  1 allow, 0 deny             access: 1 subscribe, 2 publish, 3 both
--   who:    username '$all' is everyone; otherwise the non-NULL of ipaddr (address or CIDR),
--           username and clientid must all match
--   topic:  MQTT filter with %u / %c as whole levels, or "eq <topic>" for an exact match
CREATE TABLE IF NOT EXISTS mqtt_acl (
  id       INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  allow    INT(1) DEFAULT 1,
  ipaddr   VARCHAR(60),
  username VARBINARY(100),
  clientid VARBINARY(100),
  access   INT(2) NOT NULL,
  topic    VARCHAR(100) NOT NULL DEFAULT '',
  INDEX (ipaddr),
  INDEX (username),
  INDEX (clientid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
