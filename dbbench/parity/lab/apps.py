from django.apps import AppConfig


class ParityLabConfig(AppConfig):
    name = "dbbench.parity.lab"
    label = "paritylab"
    default_auto_field = "django.db.models.BigAutoField"
