"""URLs of the quiz site (the views come with the load test)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
