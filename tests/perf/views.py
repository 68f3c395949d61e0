"""Reference views for the benchmark, mounted under /bench/ only when BENCH_VIEWS=1."""

from django.db import connection
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt


def bare_page(request):
    """A small page: the reference for page and status throughput."""
    return HttpResponse("<!doctype html><title>bare</title><p>hello</p>")


def bare_query(request):
    """A small page after one PostgreSQL query: the reference for pages that must read something."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT available FROM bench_counter WHERE id = 1")
        (available,) = cursor.fetchone()
    return HttpResponse(f"<!doctype html><title>bare</title><p>{available}</p>")


@csrf_exempt
def bare_update(request):
    """One conditional UPDATE on a counter: the reference for hold placement."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE bench_counter SET available = available - 1 WHERE id = 1 AND available >= 1")
        taken = cursor.rowcount
    return JsonResponse({"taken": taken}, status=201 if taken else 409)
