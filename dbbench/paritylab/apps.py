from django.apps import AppConfig


class ParityLabConfig(AppConfig):
    name = "dbbench.paritylab"
    label = "paritylab"
    default_auto_field = "django.db.models.BigAutoField"
