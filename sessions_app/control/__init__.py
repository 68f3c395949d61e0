"""The live control room: one staff page per session to run the show from a phone (docs/control-room.md).

services.py  the actions (pin / open / close a drop, fire a flash coupon, go live / end), each one transaction,
             audited, recorded in the session timeline, then the viewers' cached page and status are dropped
selectors.py the live counters (viewers now, holds, orders, revenue, stock, the flash coupon) and the timeline
views.py     the page and its counters JSON (admin URLs, added by admin.ControlRoomAdminMixin)
"""
