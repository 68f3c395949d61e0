"""Back office for session assets: recordings (upload, state, poster, jobs, cut-clip page), clips,
derivative jobs and the session timeline (docs/video.md, staff guide).

Every action and page declares its permission through commerce.staff_access and is written to the
object's History (admin LogEntry). Views stay thin: they call sessions_app.assets.services.
"""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from commerce.audit import admin_action_logged
from commerce.staff_access import perm_check, staff_permission_required

from . import jobs, services
from .cas import AssetError, spool_chunks
from .models import AssetJob, Clip, Recording, SessionMoment


def asset_link(obj) -> str | None:
    """The object's URL from the STORAGE part's delivery module, or None (not merged yet / archived)."""
    if obj is None:
        return None
    try:
        from .delivery import asset_url
    except ImportError:
        return None
    try:
        return asset_url(obj)
    except Exception:  # a page must render even if delivery cannot make a URL now
        return None


def progress_bar(job: AssetJob) -> str:
    return format_html(
        '<progress value="{}" max="1" title="{}%"></progress> {}%',
        f"{job.progress:.2f}",
        round(job.progress * 100),
        round(job.progress * 100),
    )


def ms_text(ms: int | None) -> str:
    if ms is None:
        return "—"
    minutes, rest = divmod(ms, 60_000)
    return f"{minutes}:{rest / 1000:06.3f}"


# --- upload form ------------------------------------------------------------------------------------


class RecordingUploadForm(forms.Form):
    session = forms.ModelChoiceField(queryset=None, help_text="The live session this recording is of.")
    file = forms.FileField(
        help_text="MP4 (H.264/AAC) or WebM (VP9/Opus), up to the size limit. Large files are streamed to disk."
    )
    started_at = forms.DateTimeField(
        required=False,
        help_text="When the recording's first frame was (your timezone). Leave empty to use the session's Go live time.",
    )

    def __init__(self, *args, **kwargs):
        from sessions_app.models import LiveSession

        super().__init__(*args, **kwargs)
        self.fields["session"].queryset = LiveSession.objects.order_by("-starts_at")


class StartedAtForm(forms.ModelForm):
    class Meta:
        model = Recording
        fields = ["started_at"]


class JobInline(admin.TabularInline):
    model = AssetJob
    fk_name = "recording"
    fields = ["kind", "state", "bar", "attempts", "run_after", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    @admin.display(description="Progress")
    def bar(self, job):
        return progress_bar(job)


class ClipInline(admin.TabularInline):
    model = Clip
    fk_name = "recording"
    fields = ["title", "source", "start_ms", "end_ms", "state", "method", "drop", "error"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False



def _each(modeladmin, request, queryset, call, *, log: str, name=lambda obj: "", level=messages.ERROR) -> list:
    """Run one service call per selected object: an AssetError becomes a message naming the object,
    the objects it succeeded for get one History entry each (`log`). Returns those objects."""
    done = []
    for obj in queryset:
        try:
            call(obj)
            done.append(obj)
        except AssetError as exc:
            modeladmin.message_user(request, f"{name(obj)}{exc.message}", level)
    admin_action_logged(request, done, log)
    return done


class _ServiceDeletesJobsMixin:
    """Deleting a recording or clip also deletes its derivative jobs (their progress rows, CASCADE).

    Those rows are the service's bookkeeping, not something staff manage: deleting the owner needs
    the owner's delete permission only, not `delete_assetjob` (QA: a host could never delete a
    recording or clip, since every one has jobs).
    """

    def get_deleted_objects(self, objs, request):
        to_delete, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed = {name for name in perms_needed if name != AssetJob._meta.verbose_name}
        return to_delete, model_count, perms_needed, protected


@admin.register(Recording)
class RecordingAdmin(_ServiceDeletesJobsMixin, admin.ModelAdmin):
    list_display = ["original_name", "session", "state", "thumb", "duration", "job_progress", "error_short", "created_at"]
    list_filter = ["state", "session__series"]
    search_fields = ["original_name", "session__title"]
    list_select_related = ["session", "poster"]
    form = StartedAtForm
    readonly_fields = [
        "session", "original_name", "state", "error", "duration", "width", "height", "video_codec", "audio_codec",
        "poster_preview", "strip_preview", "asset", "created_by", "partner", "created_at", "cut_link",
    ]
    fields = ["session", "original_name", "state", "error", "started_at", "duration", "width", "height",
              "video_codec", "audio_codec", "poster_preview", "strip_preview", "cut_link", "asset", "created_by",
              "partner", "created_at"]
    inlines = [JobInline, ClipInline]
    actions = ["reprocess", "make_highlights"]

    has_reprocess_permission = perm_check("sessions_app.change_recording")
    has_highlights_permission = perm_check("sessions_app.change_recording", "sessions_app.add_clip")

    @admin.display(description="Poster")
    def thumb(self, obj):
        url = asset_link(obj.poster)
        return format_html('<img src="{}" width="96" alt="">', url) if url else "—"

    @admin.display(description="Poster")
    def poster_preview(self, obj):
        url = asset_link(obj.poster)
        return format_html('<img src="{}" width="320" alt="">', url) if url else "—"

    @admin.display(description="Thumbnail strip")
    def strip_preview(self, obj):
        url = asset_link(obj.strip)
        return format_html('<img src="{}" width="640" alt="">', url) if url else "—"

    @admin.display(description="Duration (m:s)", ordering="duration_ms")
    def duration(self, obj):
        return ms_text(obj.duration_ms)

    @admin.display(description="Jobs")
    def job_progress(self, obj):
        live = [j for j in obj.jobs.all() if j.state != AssetJob.State.DONE][:3]
        if not live:
            return "—"
        return format_html_join(
            "", "<div>{}: {} {}</div>", ((j.get_kind_display(), j.get_state_display(), progress_bar(j)) for j in live)
        )

    @admin.display(description="Error")
    def error_short(self, obj):
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error

    @admin.display(description="Cut a clip")
    def cut_link(self, obj):
        if not obj.pk:
            return "—"
        return format_html('<a class="button" href="{}">Cut a clip…</a>', reverse("admin:sessions_app_recording_cut", args=[obj.pk]))

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("jobs")

    def get_urls(self):
        return [
            path("<id:recording_id>/cut/", self.admin_site.admin_view(self.cut_view), name="sessions_app_recording_cut"),
            *super().get_urls(),
        ]

    # --- upload (the add page) ---

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        return self.upload_view(request)

    @staff_permission_required("sessions_app.add_recording")
    def upload_view(self, request):
        """Upload a recording: a normal multipart form (Django spools big files to disk), then the service."""
        form = RecordingUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            spooled = None
            try:
                if hasattr(upload, "temporary_file_path"):
                    source = Path(upload.temporary_file_path())
                else:
                    spooled, _sha, _size = spool_chunks(upload.chunks())
                    source = spooled
                recording = services.recording_create_from_file(
                    session_id=form.cleaned_data["session"].pk,
                    path=source,
                    original_name=Path(upload.name).name,
                    created_by=request.user,
                    started_at=form.cleaned_data["started_at"],
                )
            except AssetError as exc:
                form.add_error("file", exc.message)
            else:
                self.log_addition(request, recording, f"Uploaded {recording.original_name} (admin upload).")
                self.message_user(
                    request,
                    f"Uploaded {recording.original_name}: posters, thumbnail strip and highlights are being made.",
                    messages.SUCCESS,
                )
                return redirect("admin:sessions_app_recording_change", recording.pk)
            finally:
                if spooled is not None:
                    spooled.unlink(missing_ok=True)
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a recording",
            "form": form,
            "opts": self.model._meta,
            "max_gib": services.max_recording_bytes() / 1024**3,
        }
        return TemplateResponse(request, "admin/sessions_app/recording/upload.html", context)

    def save_model(self, request, obj, form, change):
        if change and "started_at" in form.changed_data and obj.started_at is not None:
            services.recording_set_started_at(recording_id=obj.pk, started_at=obj.started_at)
        elif change:
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        services.recording_delete(recording_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in list(queryset.values_list("pk", flat=True)):
            services.recording_delete(recording_id=pk)

    # --- actions ---

    @admin.action(description="Process again (poster, strip, highlights)", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        done = _each(self, request, queryset, lambda r: services.recording_reprocess(recording_id=r.pk),
                     name=lambda r: f"{r.original_name}: ", log="Processing queued again (admin action).")
        if done:
            self.message_user(request, f"Queued processing for {len(done)} recording(s).", messages.SUCCESS)

    @admin.action(description="Make highlight clips for drop moments", permissions=["highlights"])
    def make_highlights(self, request, queryset):
        done = _each(self, request, queryset, lambda r: services.highlights_queue(recording_id=r.pk),
                     name=lambda r: f"{r.original_name}: ", log="Highlights queued (admin action).")
        if done:
            self.message_user(request, f"Queued highlights for {len(done)} recording(s).", messages.SUCCESS)

    # --- cut a clip ---

    @staff_permission_required("sessions_app.cut_clip", "sessions_app.add_clip")
    def cut_view(self, request, recording_id: int):
        """Cut a clip: a player with start/end inputs, set-from-player buttons and a preview (static JS)."""
        recording = get_object_or_404(Recording.objects.select_related("session", "asset"), pk=recording_id)
        form = ClipCutForm(request.POST or None, recording=recording)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                clip = services.clip_create(
                    recording_id=recording.pk,
                    start_ms=round(data["start_s"] * 1000),
                    end_ms=round(data["end_s"] * 1000),
                    title=data["title"],
                    drop_id=data["drop"].pk if data["drop"] else None,
                    created_by=request.user,
                )
            except AssetError as exc:
                form.add_error(None, exc.message)
            else:
                self.log_change(request, recording, f"Clip {clip.title!r} cut ({ms_text(clip.start_ms)}–{ms_text(clip.end_ms)}).")
                self.message_user(request, f"Clip {clip.title!r} is being cut.", messages.SUCCESS)
                return redirect("admin:sessions_app_clip_change", clip.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Cut a clip · {recording.original_name}",
            "recording": recording,
            "video_url": asset_link(recording.asset),
            "poster_url": asset_link(recording.poster),
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/sessions_app/recording/cut.html", context)


class ClipCutForm(forms.Form):
    title = forms.CharField(max_length=200)
    start_s = forms.DecimalField(label="Start (seconds)", min_value=0, decimal_places=3, max_digits=9)
    end_s = forms.DecimalField(label="End (seconds)", min_value=0, decimal_places=3, max_digits=9)
    drop = forms.ModelChoiceField(queryset=None, required=False, help_text="The drop this clip sells (optional).")

    def __init__(self, *args, recording: Recording, **kwargs):
        from commerce.models import Drop

        super().__init__(*args, **kwargs)
        self.fields["drop"].queryset = Drop.objects.filter(session_id=recording.session_id).order_by("opens_at")
        self.fields["start_s"].widget.attrs.update({"data-cut-start": "1", "step": "0.001"})
        self.fields["end_s"].widget.attrs.update({"data-cut-end": "1", "step": "0.001"})

    def clean(self):
        data = super().clean()
        if data.get("start_s") is not None and data.get("end_s") is not None and data["end_s"] <= data["start_s"]:
            self.add_error("end_s", "The end must come after the start.")
        return data


@admin.register(Clip)
class ClipAdmin(_ServiceDeletesJobsMixin, admin.ModelAdmin):
    list_display = ["title", "session", "source", "state", "method", "drop", "span", "duration", "thumb", "error_short"]
    list_filter = ["state", "method", "source", "is_public"]
    search_fields = ["title", "session__title"]
    list_select_related = ["session", "drop", "poster"]
    fields = ["title", "is_public", "drop", "session", "recording", "moment", "source", "start_ms", "end_ms", "state",
              "method", "duration_ms", "error", "asset", "poster", "created_by", "partner", "created_at"]
    readonly_fields = ["session", "recording", "moment", "source", "start_ms", "end_ms", "state", "method",
                       "duration_ms", "error", "asset", "poster", "created_by", "partner", "created_at"]
    actions = ["recut"]

    has_recut_permission = perm_check("sessions_app.change_clip")

    def has_add_permission(self, request):
        return False  # clips are cut from a recording ("Cut a clip…") or made as highlights

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "drop":
            from commerce.models import Drop

            object_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            clip = Clip.objects.filter(pk=object_id).first() if object_id and str(object_id).isdecimal() else None
            kwargs["queryset"] = Drop.objects.filter(session_id=clip.session_id) if clip else Drop.objects.none()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="Span")
    def span(self, obj):
        return f"{ms_text(obj.start_ms)}–{ms_text(obj.end_ms)}"

    @admin.display(description="Duration")
    def duration(self, obj):
        return ms_text(obj.duration_ms)

    @admin.display(description="Poster")
    def thumb(self, obj):
        url = asset_link(obj.poster)
        return format_html('<img src="{}" width="96" alt="">', url) if url else "—"

    @admin.display(description="Error")
    def error_short(self, obj):
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error

    def delete_model(self, request, obj):
        services.clip_delete(clip_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for pk in list(queryset.values_list("pk", flat=True)):
            services.clip_delete(clip_id=pk)

    @admin.action(description="Cut again", permissions=["recut"])
    def recut(self, request, queryset):
        done = _each(self, request, queryset, lambda c: services.clip_recut(clip_id=c.pk),
                     name=lambda c: f"{c.title}: ", log="Cut queued again (admin action).")
        if done:
            self.message_user(request, f"Queued {len(done)} clip(s) to be cut again.", messages.SUCCESS)


@admin.register(AssetJob)
class AssetJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "target", "state", "bar", "attempts", "run_after", "error_short", "updated_at"]
    list_filter = ["state", "kind"]
    list_select_related = ["recording", "clip"]
    readonly_fields = ["kind", "recording", "clip", "state", "bar", "attempts", "max_attempts", "run_after",
                       "lease_until", "error", "created_at", "updated_at"]
    fields = readonly_fields
    actions = ["retry_now"]

    has_retry_permission = perm_check("sessions_app.change_assetjob")

    def has_add_permission(self, request):
        return False

    @admin.display(description="Progress")
    def bar(self, job):
        return progress_bar(job)

    @admin.display(description="For")
    def target(self, job):
        return str(job.clip or job.recording or "—")

    @admin.display(description="Error")
    def error_short(self, job):
        return (job.error[:120] + "…") if len(job.error) > 120 else job.error

    @admin.action(description="Retry now", permissions=["retry"])
    def retry_now(self, request, queryset):
        done = _each(self, request, queryset, lambda j: jobs.asset_job_retry_now(job_id=j.pk),
                     log="Retried now (admin action).", level=messages.WARNING)
        if done:
            self.message_user(request, f"Queued {len(done)} job(s) again.", messages.SUCCESS)


@admin.register(SessionMoment)
class SessionMomentAdmin(admin.ModelAdmin):
    list_display = ["session", "kind", "at", "drop", "note"]
    list_filter = ["kind"]
    search_fields = ["session__title", "note"]
    list_select_related = ["session", "drop"]
    readonly_fields = ["created_at"]
