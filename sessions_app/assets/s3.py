"""S3 specifics of asset storage: the bucket lifecycle configuration (a backstop to the daily
tier task; docs/assets.md "Tiers on S3").

Why the rules look like this (AWS S3 User Guide, "Transitioning objects using Amazon S3
Lifecycle" → constraints; "Amazon S3 pricing"):
- lifecycle cannot move objects to STANDARD_IA or ONEZONE_IA before they are 30 days old, so the
  7-day fast→mid move is the app's CopyObject (tiers.py), never a rule;
- objects under 128 KiB are billed as 128 KiB in IA and Glacier classes and lifecycle by default
  does not transition them; the rules filter on ObjectSizeGreaterThan = the policy's min_bytes − 1
  anyway so a changed default cannot archive thumbnails;
- IA has a 30-day and Glacier Flexible Retrieval a 90-day minimum storage charge, so each object is
  moved once per tier and never back (restores make a temporary copy instead);
- every rule filters on the object tag kind=<kind> written at upload, and the prefix assets/.
"""

from __future__ import annotations

from django.conf import settings

from .models import AssetKind
from .tiers import asset_tier_policy

PREFIX = "assets/"
IA_MIN_LIFECYCLE_DAYS = 30


def lifecycle_rules() -> list[dict]:
    """The bucket's lifecycle rules (boto3 put_bucket_lifecycle_configuration shape).

    Per kind with an archive age: transition to the archive class ASSET_LIFECYCLE_BACKSTOP_DAYS
    after the app's own move would have happened; per kind with a mid age whose backstop lands at
    ≥ 30 days: transition to STANDARD_IA likewise. Plus: abort incomplete multipart uploads after
    1 day (a killed upload's parts are billed until aborted).
    """
    backstop = settings.ASSET_LIFECYCLE_BACKSTOP_DAYS
    classes = settings.ASSET_S3_STORAGE_CLASSES
    rules = [
        {
            "ID": "assets-abort-incomplete-multipart",
            "Filter": {"Prefix": PREFIX},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]
    for kind in AssetKind.values:
        policy = asset_tier_policy(kind)
        transitions = []
        mid, archive = policy["mid_after_days"], policy["archive_after_days"]
        if mid is not None and mid + backstop >= IA_MIN_LIFECYCLE_DAYS and (archive is None or mid < archive):
            transitions.append({"Days": mid + backstop, "StorageClass": classes["mid"]})
        if archive is not None:
            days = archive + backstop
            if transitions and days < transitions[-1]["Days"] + IA_MIN_LIFECYCLE_DAYS:
                days = transitions[-1]["Days"] + IA_MIN_LIFECYCLE_DAYS  # 30 days in IA before Glacier
            transitions.append({"Days": days, "StorageClass": classes["archive"]})
        if not transitions:
            continue
        rules.append(
            {
                "ID": f"assets-{kind}-tiers-backstop",
                "Filter": {
                    "And": {
                        "Prefix": PREFIX,
                        "Tags": [{"Key": "kind", "Value": kind}],
                        "ObjectSizeGreaterThan": max(policy["min_bytes"] - 1, 0),
                    }
                },
                "Status": "Enabled",
                "Transitions": transitions,
            }
        )
    return rules


def lifecycle_apply(*, client, bucket: str) -> dict:
    """Write the rules to the bucket (replacing its lifecycle configuration) and return what the
    bucket now reports (get_bucket_lifecycle_configuration)."""
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules()})
    return {"Rules": client.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
