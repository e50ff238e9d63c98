-- READ COMMITTED: a few checks, each compared in its own statement.
\set u random(1, 6)
\set d random(1, 12)
SELECT stress.compare(:u, :d);
SELECT stress.compare(:u, :d);
SELECT stress.compare(:u, :d % 12 + 1);
SELECT stress.compare(:u, :d);
