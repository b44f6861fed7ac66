from django.db import transaction

from apps.catalog.contracts import CatalogFile
from apps.catalog.models import Product
from apps.core.contracts import ImportResult, Rejected, validate
from apps.core.services import audit_event_record, field_changes, field_values, record_upsert

# What a product.updated event shows the old and new value of.
AUDITED_FIELDS = [
    "name",
    "description",
    "delivery_method",
    "license_type",
    "term_months",
    "instructions_url",
    "renews",
]


def _file_problems(products: list[dict]) -> list[str]:
    problems = []
    first: dict[str, int] = {}
    for index, row in enumerate(products):
        if row["sku"] in first:
            problems.append(
                f"products[{index}].sku: {row['sku']} is already in products[{first[row['sku']]}]"
            )
        first.setdefault(row["sku"], index)
    renewed = {row["renews_sku"] for row in products if row["renews_sku"]}
    stored = dict(Product.objects.filter(sku__in=renewed).values_list("sku", "license_type"))
    in_file = {row["sku"]: row["license_type"] for row in products}
    for index, row in enumerate(products):
        target = row["renews_sku"]
        if not target:
            continue
        license_type = in_file.get(target, stored.get(target))
        if license_type is None:
            problems.append(f'products[{index}].renews_sku: unknown SKU "{target}"')
        elif license_type != "subscription":
            problems.append(f'products[{index}].renews_sku: "{target}" is not a subscription')
        elif target == row["sku"]:
            problems.append(f"products[{index}].renews_sku: a SKU cannot renew itself")
    return problems


@transaction.atomic
def catalog_import(*, document, actor) -> ImportResult:
    """Upsert products from the catalog file, matched on SKU; all or nothing, audited (a
    product.updated event holds each changed field's old and new value)."""
    products = validate(CatalogFile, document)["products"]
    problems = _file_problems(products)
    if problems:
        raise Rejected(problems)
    result = ImportResult()
    saved: dict[str, Product] = {}
    before = {
        product.sku: field_values(product, AUDITED_FIELDS)
        for product in Product.objects.filter(
            sku__in=[row["sku"] for row in products]
        ).select_related("renews")
    }
    # Renewal SKUs point at other rows: store every product first, then the links.
    for row in products:
        fields = {
            k: row[k]
            for k in (
                "name",
                "description",
                "delivery_method",
                "license_type",
                "term_months",
                "instructions_url",
            )
        }
        product, outcome = record_upsert(model=Product, lookup={"sku": row["sku"]}, values=fields)
        saved[product.sku] = product
        result.add(f"product {product.sku}", outcome)
    for index, row in enumerate(products):
        product = saved[row["sku"]]
        target = row["renews_sku"] or None
        renews = saved.get(target) or (Product.objects.get(sku=target) if target else None)
        if product.renews_id != (renews.pk if renews else None):
            product.renews = renews
            product.save(update_fields=["renews", "updated_at"])
            if result.rows[index][1] == "unchanged":
                result.rows[index] = (result.rows[index][0], "updated")
    for (_, outcome), row in zip(result.rows, products, strict=True):
        if outcome != "unchanged":
            product = saved[row["sku"]]
            audit_event_record(
                actor=actor,
                action=f"product.{outcome}",
                target=product,
                data=field_changes(before.get(product.sku), product, AUDITED_FIELDS)
                if outcome == "updated"
                else {},
            )
    return result
