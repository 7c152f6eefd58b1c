-- One database per service (each service owns its own database; none reads another's).
-- Run by the postgres image's entrypoint (/docker-entrypoint-initdb.d/) ONLY when the
-- data directory is empty, i.e. on the first start. To add a service's database to an
-- existing volume, run the matching line by hand:
--   docker compose exec postgres psql -U postgres -c 'CREATE DATABASE "procurement"'
--
-- Names are quoted because ORDER is a reserved word in SQL.
-- Tables, the outbox and the inbox are created later by `hub migrate` (Alembic), not here.

CREATE DATABASE "order";
CREATE DATABASE "inventory";
CREATE DATABASE "gateway";
CREATE DATABASE "procurement";
CREATE DATABASE "customer";
CREATE DATABASE "accounting";
-- The ledger connector's own database (push state per external ledger). `hub migrate`
-- always migrates it, whether or not a connector runs (HUB_LEDGERS), so an existing volume
-- needs this line run by hand (see above) before the next `hub migrate`.
CREATE DATABASE "ledger";
-- The shop connectors' own database (watermarks, published order versions, held exceptions,
-- SKU mappings, renewed tokens). `hub migrate` always migrates it, whether or not a connector
-- runs, so an existing volume needs this line run by hand (see above) before the next `hub migrate`.
CREATE DATABASE "shops";
