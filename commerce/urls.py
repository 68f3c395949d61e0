from django.urls import path

from . import views

app_name = "commerce"
urlpatterns = [
    path("drops/<int:drop_id>/checkout/", views.drop_buy, name="checkout"),
    path("drops/<int:drop_id>/qr.svg", views.drop_qr, name="drop_qr"),
    path("cart/<str:token>/", views.hold_checkout, name="hold"),
    path("orders/<str:token>/", views.order_detail, name="order"),
]
