"""The store's own tables (all named ``abae_*``); user collections live beside them.

- ``abae_collections``: one row per record collection (a user table of records).
- ``abae_proxies``: which numeric columns of a collection are proxy scores.
- ``abae_labels``: the label ledger, one row per (collection, record, oracle key);
  the oracle key is the oracle's name, or ``name@version`` for an oracle whose
  answers depend on a model and a prompt (see :mod:`abae.store.ledger`).
- ``abae_claims``: oracle calls bought by a query, written before the call is made;
  a query's spend is the number of distinct records it has claimed, its money the
  sum of each claim's settled and reserved money.
- ``abae_oracle_versions``: what each versioned oracle key stands for (model,
  prompt hash, answer type) so that ``abae labels`` can show labels per version.
- ``abae_queries``: the query log (text, seed, budget, status, result).
- ``abae_proxy_pilots``: the records whose labels trained a proxy (see
  :mod:`abae.store.pilot_records`); queries ranked by that proxy leave them out.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

SCHEMA_STATEMENTS = (
    """
    CREATE TABLE IF NOT EXISTS abae_meta (
        key VARCHAR PRIMARY KEY,
        value VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS abae_collections (
        name VARCHAR PRIMARY KEY,
        source VARCHAR NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS abae_proxies (
        collection VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        description VARCHAR NOT NULL DEFAULT '',
        created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
        PRIMARY KEY (collection, name)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS abae_labels (
        collection VARCHAR NOT NULL,
        record_id BIGINT NOT NULL,
        oracle VARCHAR NOT NULL,
        predicate BOOLEAN,
        statistic DOUBLE,
        cost DOUBLE NOT NULL,
        labelled_at TIMESTAMP NOT NULL,
        query_id VARCHAR NOT NULL,
        PRIMARY KEY (collection, record_id, oracle)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS abae_claims (
        query_id VARCHAR NOT NULL,
        collection VARCHAR NOT NULL,
        record_id BIGINT NOT NULL,
        oracle VARCHAR NOT NULL,
        owner VARCHAR NOT NULL,
        host VARCHAR NOT NULL,
        pid INTEGER NOT NULL,
        state VARCHAR NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        error VARCHAR,
        claimed_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        PRIMARY KEY (query_id, collection, record_id, oracle)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS abae_queries (
        query_id VARCHAR PRIMARY KEY,
        sql VARCHAR NOT NULL,
        collection VARCHAR NOT NULL,
        seed UBIGINT NOT NULL,
        budget BIGINT NOT NULL,
        status VARCHAR NOT NULL,
        runs INTEGER NOT NULL DEFAULT 1,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        result_json VARCHAR
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS abae_proxy_pilots (
        collection VARCHAR NOT NULL,
        proxy VARCHAR NOT NULL,
        record_id BIGINT NOT NULL,
        PRIMARY KEY (collection, proxy, record_id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS abae_oracle_versions (
        oracle_key VARCHAR PRIMARY KEY,
        name VARCHAR NOT NULL,
        version VARCHAR NOT NULL,
        description VARCHAR NOT NULL,
        first_used TIMESTAMP NOT NULL
    )
    """,
    # Version 2 columns (money, tokens, categories, raw answers, who charged a claim).
    # Added with ALTER so that a version-1 store upgrades in place; all nullable.
    "ALTER TABLE abae_labels ADD COLUMN IF NOT EXISTS category VARCHAR",
    "ALTER TABLE abae_labels ADD COLUMN IF NOT EXISTS input_tokens BIGINT",
    "ALTER TABLE abae_labels ADD COLUMN IF NOT EXISTS output_tokens BIGINT",
    "ALTER TABLE abae_labels ADD COLUMN IF NOT EXISTS raw_answer VARCHAR",
    "ALTER TABLE abae_claims ADD COLUMN IF NOT EXISTS charged_by VARCHAR",
    "ALTER TABLE abae_claims ADD COLUMN IF NOT EXISTS cost_reserved DOUBLE",
    "ALTER TABLE abae_claims ADD COLUMN IF NOT EXISTS cost_spent DOUBLE",
    "ALTER TABLE abae_claims ADD COLUMN IF NOT EXISTS input_tokens BIGINT",
    "ALTER TABLE abae_claims ADD COLUMN IF NOT EXISTS output_tokens BIGINT",
    "ALTER TABLE abae_claims ADD COLUMN IF NOT EXISTS raw_answer VARCHAR",
    f"INSERT OR REPLACE INTO abae_meta VALUES ('schema_version', '{SCHEMA_VERSION}')",
)
