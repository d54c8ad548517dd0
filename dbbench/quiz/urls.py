"""URLs of the quiz site: JSON endpoints a student's browser (or Locust) calls."""

from __future__ import annotations

from django.urls import URLPattern, path

from dbbench.quiz import views

urlpatterns: list[URLPattern] = [
    path("health/", views.health, name="health"),
    path("quizzes/", views.catalog, name="catalog"),
    path("quizzes/<int:quiz_id>/", views.start_quiz, name="start-quiz"),
    path("quizzes/<int:quiz_id>/attempts/", views.submit_attempt, name="submit-attempt"),
    path("quizzes/<int:quiz_id>/leaderboard/", views.leaderboard, name="leaderboard"),
    path("students/<int:student_id>/attempts/", views.student_history, name="student-history"),
]
