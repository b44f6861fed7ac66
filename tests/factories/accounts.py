import factory

from apps.accounts.models import Account, AccountAssociation, Contact, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    name = factory.Faker("name")
    password = factory.django.Password("password")


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    account_id = factory.Sequence(lambda n: f"01{n:08d}")
    name = factory.Faker("company")
    kind = Account.Kind.CUSTOMER


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    user = factory.SubFactory(UserFactory)
    contact_id = factory.Sequence(lambda n: f"C-{n:06d}")
    language = "en"


class AccountAssociationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountAssociation

    contact = factory.SubFactory(ContactFactory)
    account = factory.SubFactory(AccountFactory)
