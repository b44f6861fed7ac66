from django.db import transaction

from apps.catalog.contracts import CatalogFile, ProductIn
from apps.catalog.models import Product
from apps.core.contracts import ImportResult, Rejected, validate
from apps.core.services import audit_event_record, field_changes, field_values, record_upsert

# What a product.updated event from an import shows the old and new value of.
AUDITED_FIELDS = [
    "name",
    "description",
    "delivery_method",
    "license_type",
    "term_months",
    "instructions_url",
    "renews",
]
# What the admin's product page sets, in the catalog file's shape.
PRODUCT_FIELDS = (
    "sku",
    "name",
    "description",
    "delivery_method",
    "license_type",
    "term_months",
    "instructions_url",
)


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
    # A stored renewal SKU that keeps renewing a product keeps it a subscription: its
    # entitlements would have no term for the renewal to extend.
    perpetual = {
        row["sku"]: index
        for index, row in enumerate(products)
        if row["license_type"] != "subscription"
    }
    renewing = {row["sku"]: row["renews_sku"] for row in products}
    for sku, renewed in Product.objects.filter(renews__sku__in=perpetual).values_list(
        "sku", "renews__sku"
    ):
        if renewing.get(sku, renewed) == renewed:
            problems.append(
                f"products[{perpetual[renewed]}].license_type: {sku} renews {renewed}, which "
                "stays a subscription while a SKU renews it"
            )
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


@transaction.atomic
def product_save(*, row: dict, is_active: bool, actor, product=None) -> Product:
    """Create a product, or change the stored row of `product`, from one row of the catalog
    file's shape (its contract and rules, as the API and the imports) and whether it is still
    sold. Audited with each changed field's old and new value; nothing changes, nothing is
    written."""
    data = dict(validate(ProductIn, row))
    problems = [problem.removeprefix("products[0].") for problem in _file_problems([data])]
    if problems:
        raise Rejected(problems)
    renews = Product.objects.get(sku=data["renews_sku"]) if data["renews_sku"] else None
    after = {field: data[field] for field in PRODUCT_FIELDS}
    after["renews_sku"] = renews.sku if renews else None
    after["is_active"] = is_active
    if product is None or not product.pk:
        if Product.objects.filter(sku=data["sku"]).exists():
            raise Rejected([f"sku: {data['sku']} exists already"])
        stored, before, action = Product(), {}, "product.created"
    else:
        stored = Product.objects.select_for_update().get(pk=product.pk)
        before = {field: getattr(stored, field) for field in PRODUCT_FIELDS}
        before["renews_sku"] = stored.renews.sku if stored.renews else None
        before["is_active"] = stored.is_active
        action = "product.updated"
    changes = field_changes(before=before, after=after)
    if not changes:
        return stored
    for field in PRODUCT_FIELDS:
        setattr(stored, field, after[field])
    stored.renews, stored.is_active = renews, is_active
    stored.save()
    audit_event_record(actor=actor, action=action, target=stored, data=changes)
    return stored
