import factory

from apps.core.models import AuditEvent


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    actor_kind = "job"
    actor_name = "import_orders"
    action = "order.created"
    target_type = "orders.salesorder"
    target_id = factory.Sequence(str)
