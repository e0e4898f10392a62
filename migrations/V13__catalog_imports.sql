-- Catalogs loaded on a running server (`freeway catalog import`, `POST /admin/v1/catalog`),
-- byte for byte as signed. At start the newest one is applied again when its version is
-- above the catalog built into the binary, so a restart does not fall back to older data.
CREATE TABLE catalog_imports (
    id          uuid PRIMARY KEY,
    version     integer NOT NULL CHECK (version > 0),
    body        text NOT NULL,
    signature   text,
    -- The base64 public key the signature verified with; NULL when forced.
    signed_by   text,
    forced      boolean NOT NULL DEFAULT false,
    imported_by text NOT NULL,
    imported_at timestamptz NOT NULL DEFAULT now()
);
