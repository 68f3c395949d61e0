from django.urls import path

from . import views

app_name = "commerce"
urlpatterns = [
    path("drops/<int:drop_id>/checkout/", views.checkout, name="checkout"),
    path("orders/<str:token>/", views.order_detail, name="order"),
]
