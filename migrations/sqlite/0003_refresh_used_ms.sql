-- jwtd embedded schema, version 3 (SPEC revision 3). Never edit once released.

-- When a refresh token was rotated, in milliseconds: the reuse grace is
-- compared in milliseconds, so a replay is not accepted up to a second
-- past it. Rows rotated before this version have only `used_at` (seconds);
-- readers fall back to it.
ALTER TABLE refresh_tokens ADD COLUMN used_at_ms INTEGER;
