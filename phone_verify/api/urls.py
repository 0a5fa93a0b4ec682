"""Mount with ``path("api/phone-verify/", include("phone_verify.api.urls"))``."""

from django.urls import path

from .. import webhooks
from . import views

app_name = "phone_verify_api"

urlpatterns = [
    path("verifications/", views.VerificationListView.as_view(), name="verification-list"),
    # <str:pk>, not <uuid:pk>: a malformed id must get our JSON 404, not Django's HTML one.
    path(
        "verifications/<str:pk>/",
        views.VerificationDetailView.as_view(),
        name="verification-detail",
    ),
    path("verifications/<str:pk>/check/", views.CheckCodeView.as_view(), name="verification-check"),
    path("verifications/<str:pk>/resend/", views.ResendView.as_view(), name="verification-resend"),
    path("prefills/", views.PrefillListView.as_view(), name="prefill-list"),
    path("prefills/<str:pk>/", views.PrefillDetailView.as_view(), name="prefill-detail"),
    path("prefills/<str:pk>/return/", views.prefill_return, name="prefill-return"),
    # No secret in the path: web servers log paths (see webhooks.py).
    path("webhooks/<slug:provider>/", webhooks.WebhookView.as_view(), name="webhook"),
]
