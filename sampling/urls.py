from django.urls import path

from . import views

app_name = "sampling"
urlpatterns = [
    path("samples/r/<str:token>/", views.request_status, name="request_status"),
    path("samples/offer/<str:token>/", views.offer_page, name="offer"),
    path("samples/offer/<str:token>/checkout/<id:drop_id>/", views.offer_checkout, name="offer_checkout"),
    path("samples/<slug:slug>/", views.request_form, name="request"),
]
