-- Stage the current bucket listing (registered Arrow table `listing_input`) as temp table `listing`.
-- Output: listing(key, size, etag, last_modified)
CREATE OR REPLACE TEMP TABLE listing AS
SELECT key, size, etag, last_modified FROM listing_input
