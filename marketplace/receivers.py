"""marketplace's answers to the signals of the layers below it."""

from django.dispatch import receiver

from copytrade.signals import copy_starting
from marketplace.services import copy_terms_record


@receiver(copy_starting)
def record_the_terms_of_a_new_copy(sender, *, relationship, expected_terms, **kwargs) -> None:
    copy_terms_record(relationship=relationship, expected=expected_terms)
