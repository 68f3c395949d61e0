from django.urls import path

from . import views

app_name = "sessions_app"
urlpatterns = [
    path("", views.home, name="home"),
    path("s/<uuid:public_id>/", views.session_page, name="session"),
    path("s/<uuid:public_id>/status.json", views.session_status, name="session_status"),
]
