"""SKUs and locations match ignoring ASCII case: unique expression indexes on the folded spellings.

See storage/folding.py for the rule. The indexes make two products that differ by case alone (``CAB-DK-JR``
and ``cab-dk-jr``), or two levels of one product at ``Chicago DC`` and ``chicago dc``, impossible, and serve
every case-insensitive lookup. A database that already holds such pairs cannot take the indexes: the upgrade
stops and names them, so they can be merged first.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _folded(column: str) -> str:
    # The same SQL as storage.folding.folded, written out so this migration never changes with the code.
    if op.get_bind().dialect.name == "postgresql":
        return f'lower({column} COLLATE "C")'
    return f"lower({column})"


def _refuse_duplicates() -> None:
    bind = op.get_bind()
    clashes = [
        f"SKU {', '.join(sorted(row[0].split(chr(31))))}"
        for row in bind.execute(
            sa.text(f"SELECT {_aggregate('sku')} FROM products GROUP BY {_folded('sku')} HAVING count(*) > 1")
        )
    ]
    clashes += [
        f"{row[0]} at {', '.join(sorted(row[1].split(chr(31))))}"
        for row in bind.execute(
            sa.text(
                f"SELECT sku, {_aggregate('location')} FROM stock_levels "
                f"GROUP BY sku, {_folded('location')} HAVING count(*) > 1"
            )
        )
    ]
    if clashes:
        raise RuntimeError(
            "these catalog entries differ only by upper/lower case, which stockbot now treats as one: "
            + "; ".join(clashes)
            + ". Keep one spelling of each (export the catalog, merge the rows, delete the other spelling) "
            "and run `stockbot db upgrade` again."
        )


def _aggregate(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"string_agg({column}, chr(31))"
    return f"group_concat({column}, char(31))"


def upgrade() -> None:
    _refuse_duplicates()
    op.create_index(
        "uq_products_sku_folded", "products", [sa.text(_folded("sku"))], unique=True, if_not_exists=True
    )
    op.create_index(
        "uq_stock_levels_sku_location_folded",
        "stock_levels",
        ["sku", sa.text(_folded("location"))],
        unique=True,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("uq_stock_levels_sku_location_folded", table_name="stock_levels", if_exists=True)
    op.drop_index("uq_products_sku_folded", table_name="products", if_exists=True)
