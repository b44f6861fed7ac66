"""POST data for an admin add or change page, built from the page's own form and inline
formsets as a browser would send them back unchanged."""

from django import forms


def _field_data(form, data: dict) -> None:
    for name, field in form.fields.items():
        if field.disabled:
            continue
        bound = form[name]
        key = bound.html_name
        value = bound.value()
        widget = field.widget
        if isinstance(widget, forms.MultiWidget):
            parts = value if isinstance(value, (list, tuple)) else widget.decompress(value)
            for index, part in enumerate(parts):
                data[f"{key}_{index}"] = "" if part is None else str(part)
        elif isinstance(field, forms.BooleanField):
            if value:
                data[key] = "on"
        elif isinstance(value, (list, tuple)):
            data[key] = [str(item) for item in value]
        elif value is None:
            data[key] = ""
        else:
            data[key] = str(value)


def admin_form_data(response) -> dict:
    """Everything the page's form would post: the main form, each inline formset's
    management form and forms (extra forms included, left empty)."""
    data: dict = {}
    _field_data(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _field_data(formset.management_form, data)
        for form in formset.forms:
            _field_data(form, data)
    return data
