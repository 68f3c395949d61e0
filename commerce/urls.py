from django.urls import path

from . import views, views_pickup, views_receipts, views_waitlist, views_watch
from .referrals.urls import urlpatterns as share_urlpatterns

app_name = "commerce"
urlpatterns = [
    path("drops/<id:drop_id>/checkout/", views.drop_buy, name="checkout"),
    path("drops/<id:drop_id>/qr.svg", views.drop_qr, name="drop_qr"),
    path("cart/<str:token>/", views.hold_checkout, name="hold"),
    path("orders/<str:token>/", views.order_detail, name="order"),
    path("orders/<str:token>/receipt.pdf", views_receipts.order_receipt, name="order_receipt"),
    path(
        "orders/<str:token>/credit-notes/<id:credit_note_id>.pdf",
        views_receipts.order_credit_note,
        name="order_credit_note",
    ),
    # the session page's watch reward (docs/watch-coupons.md): personal, never cached
    path("s/<uuid:public_id>/watch-reward/", views_watch.watch_reward, name="watch_reward"),
    *share_urlpatterns,  # share-to-unlock (docs/share-to-unlock.md): personal, never cached
    path("drops/<id:drop_id>/pickup/", views_pickup.pickup_drop_buy, name="pickup_buy"),
    path("drops/<id:drop_id>/notify-me/", views_waitlist.waitlist_join_page, name="waitlist_join"),
    path("w/<str:token>/", views_waitlist.waitlist_offer_page, name="waitlist_offer"),
    path("w/leave/<str:token>/", views_waitlist.waitlist_leave_page, name="waitlist_leave"),
    path("pickup/pass/<str:token>/", views_pickup.pickup_pass, name="pickup_pass"),
    path("pickup/pass/<str:token>/pickup.ics", views_pickup.pickup_pass_ics, name="pickup_pass_ics"),
    path("pickup/staff/", views_pickup.pickup_staff_home, name="pickup_staff"),
    path("pickup/staff/checkin/", views_pickup.pickup_checkin, name="pickup_checkin"),
    path("pickup/staff/popups/<id:popup_id>/no-shows/", views_pickup.pickup_no_shows_page, name="pickup_no_shows"),
]
