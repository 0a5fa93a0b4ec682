from ceiling.views import CeilingCheck, CeilingStart
from django.urls import include, path

urlpatterns = [
    path("api/phone-verify/", include("phone_verify.api.urls")),
    path("ceiling/", CeilingStart.as_view()),
    path("ceiling/<uuid:pk>/check/", CeilingCheck.as_view()),
]
