from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="home"),
    path("signup/", views.signup, name="signup"),
    path("consents/", views.consents, name="consents"),
    path("consents/receipt.json", views.consent_receipt, name="consent_receipt"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/phone-verify/", include("phone_verify.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
