from django.apps import AppConfig


class QuizConfig(AppConfig):
    name = "dbbench.quiz"
    label = "quiz"
    default_auto_field = "django.db.models.BigAutoField"
