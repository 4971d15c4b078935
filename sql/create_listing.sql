-- Stage the current bucket listing (registered Arrow table `listing_input`) as temp table `listing`.
-- Output: listing(key, size, etag, last_modified, decode_config: how the object would be decoded now)
CREATE OR REPLACE TEMP TABLE listing AS
SELECT key, size, etag, last_modified, decode_config FROM listing_input
