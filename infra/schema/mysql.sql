-- Reference schema for MySQL / MariaDB (utf8mb4, so every Unicode username fits).
-- Usernames are VARBINARY: they compare byte for byte. A VARCHAR column would compare them under a
-- collation, where 'Alice' may equal 'alice' and 'alice ' equals 'alice' (PAD SPACE), letting one
-- device log in under another's name. The mysql client shows them as text with --skip-binary-as-hex.
CREATE TABLE IF NOT EXISTS mqtt_user (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username      VARBINARY(400) NOT NULL,
  password_hash VARCHAR(255) NOT NULL,
  salt          VARCHAR(64),
  is_superuser  TINYINT(1) NOT NULL DEFAULT 0,
  created       DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY mqtt_user_username_uq (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per rule, evaluated in id order; the first matching row decides.
--   permission: allow | deny            action: publish | subscribe | all (or pub, sub)
--   topic:      MQTT filter, "eq <topic>" for an exact match, placeholders ${username}, ${clientid} ...
--   qos:        NULL (any) or a list such as '0,1'      retain: NULL (any), 1 or 0 (publish only)
CREATE TABLE IF NOT EXISTS mqtt_acl (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username   VARBINARY(400) NOT NULL,
  permission VARCHAR(5)   NOT NULL,
  action     VARCHAR(9)   NOT NULL,
  topic      VARCHAR(255) NOT NULL,
  qos        VARCHAR(5),
  retain     TINYINT(1),
  KEY mqtt_acl_username_idx (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
