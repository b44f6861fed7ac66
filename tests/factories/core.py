import factory

from apps.core.models import AuditEvent


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    action = "order.created"
    target_type = "orders.salesorder"
    target_id = factory.Sequence(str)
