from django.urls import path

from . import views

app_name = "analytics"
urlpatterns = [
    path("a/e", views.beacon, name="beacon"),
    path("a/click/<int:drop_id>/", views.drop_click, name="click"),
]
