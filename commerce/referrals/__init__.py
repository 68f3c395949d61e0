"""Share-to-unlock (docs/share-to-unlock.md): a viewer's personal referral link to a session or clip;
N distinct new visitors (counted on the server) unlock an instant personal offer, once per person and
campaign. models.py is imported by commerce.models."""
