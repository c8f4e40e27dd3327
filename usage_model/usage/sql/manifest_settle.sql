-- An unchanged object-store file whose footer was just checked, listed long after its last
-- write: from now on its size and time alone vouch for its bytes (landing.settles).
UPDATE usage_files SET settled_at_ns = $settled WHERE path = $path
