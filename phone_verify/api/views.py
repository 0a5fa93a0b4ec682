"""HTTP mapping of the verification flow. No rule lives here: views call ``services``."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.mediatypes import media_type_matches
from rest_framework.views import APIView

from .. import inputs, jobs, prefills, services
from ..clients import client_ip
from ..exceptions import PhoneVerifyError, UnsupportedMediaType
from ..models import ConsentRecord, IdentityPrefill
from ..status import CheckOutcome
from . import errors
from .parsers import StrictJSONParser
from .schema import PhoneVerifySchema, link_to
from .serializers import (
    CheckCodeSerializer,
    CheckedSerializer,
    EmptyRequestSerializer,
    ErrorSerializer,
    InvalidCodeSerializer,
    PrefillSerializer,
    StartedPrefillSerializer,
    StartPrefillSerializer,
    StartVerificationSerializer,
    VerificationSerializer,
)

# HTTP status of each check outcome other than success.
CHECK_FAILURE_STATUS = {
    CheckOutcome.INVALID: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.EXPIRED: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.ALREADY_VERIFIED: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.UNAVAILABLE: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.NOT_DELIVERED: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.LOCKED: status.HTTP_429_TOO_MANY_REQUESTS,
}
CHECK_FAILURE_DETAIL = {
    CheckOutcome.INVALID: _("This code is not right."),
    CheckOutcome.EXPIRED: _("This code has expired; ask for a new one."),
    CheckOutcome.ALREADY_VERIFIED: _("This verification is already done."),
    CheckOutcome.UNAVAILABLE: _("This verification cannot go on; start a new one."),
    CheckOutcome.NOT_DELIVERED: _("The code could not be delivered; ask for a new one."),
    CheckOutcome.LOCKED: _("Too many wrong codes; start a new verification later."),
}

ERRORS = {400: ErrorSerializer, 404: ErrorSerializer, 415: ErrorSerializer}
# Links from an answer carrying a verification (its "id") to what can be done with it next.
VERIFICATION_LINKS = {
    "GetVerification": link_to("get_verification", id="$response.body#/id"),
    "CheckCode": link_to("check_code", id="$response.body#/id"),
    "ResendCode": link_to("resend_code", id="$response.body#/id"),
}
# The answers of the calls that spend a rate limit (create, check, resend).
RATE_LIMITED = OpenApiResponse(
    ErrorSerializer, description="rate_limited, suspected_fraud (sends only): see Retry-After"
)
LIMITS_DOWN = OpenApiResponse(
    ErrorSerializer,
    description="service_unavailable: the rate limits' cache is down; nothing was done, "
    "try again after Retry-After",
)


class PhoneVerifyView(APIView):
    """Base of the app's API views: JSON only (every POST, body or not: see ``initial``),
    anonymous allowed, our error shape."""

    parser_classes = [StrictJSONParser]
    renderer_classes = [JSONRenderer]
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]
    schema = PhoneVerifySchema()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Checked even when the view reads no body (resend): a cross-site page can post
        # text/plain or a form without asking, but not JSON. (A view without POST: 405.)
        if (
            request.method == "POST"
            and hasattr(self, "post")
            and not any(
                media_type_matches(parser.media_type, request.content_type)
                for parser in self.get_parsers()
            )
        ):
            raise UnsupportedMediaType()

    def get_exception_handler(self) -> Any:
        return errors.exception_handler


class VerificationListView(PhoneVerifyView):
    schema_links = {"201": VERIFICATION_LINKS}

    @extend_schema(
        operation_id="start_verification",
        request=StartVerificationSerializer,
        examples=[
            OpenApiExample(
                "French mobile, SMS consent",
                {"phone_number": "+33612345678", "consents": {"sms": True, "email": False}},
                request_only=True,
            )
        ],
        responses={201: VerificationSerializer, **ERRORS, 429: RATE_LIMITED, 503: LIMITS_DOWN},
    )
    def post(self, request: Request) -> Response:
        serializer = StartVerificationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        verification = services.start_verification(
            data["phone_number"],
            country=data.get("country"),
            consents=data.get("consents"),
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            user=request.user,
            method=ConsentRecord.Method.API,
            # A browser on a page with our form: the verification is bound to its session.
            # Clients without a session cookie do not get one here, nor a binding.
            session=request.session,
        )
        return Response(VerificationSerializer(verification).data, status=status.HTTP_201_CREATED)


class VerificationDetailView(PhoneVerifyView):
    schema_links = {"200": VERIFICATION_LINKS}

    @extend_schema(
        operation_id="get_verification", responses={200: VerificationSerializer, **ERRORS}
    )
    def get(self, request: Request, pk: str) -> Response:
        verification = services.get_verification(pk, session=request.session)
        return Response(VerificationSerializer(verification).data)


class CheckCodeView(PhoneVerifyView):
    schema_links = {
        "200": {"GetVerification": link_to("get_verification", id="$response.body#/id")},
        # A wrong code: ask for another one.
        "400": {"ResendCode": link_to("resend_code", id="$request.path.id")},
    }

    @extend_schema(
        operation_id="check_code",
        request=CheckCodeSerializer,
        examples=[OpenApiExample("A code", {"code": "123456"}, request_only=True)],
        responses={
            200: CheckedSerializer,
            400: OpenApiResponse(
                InvalidCodeSerializer,
                description="invalid_code (with attempts_left), expired, invalid_code_format, "
                "not_delivered (with resend_available_at: ask for a new code), "
                "verification_failed",
            ),
            404: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="too_many_attempts, rate_limited"),
            503: OpenApiResponse(
                ErrorSerializer,
                description="provider_unavailable, service_unavailable: try again, "
                "no attempt counted",
            ),
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        serializer = CheckCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.check_code(
            pk, serializer.validated_data["code"], ip=client_ip(request), session=request.session
        )
        verification = result.verification
        if result.verified:
            return Response(CheckedSerializer(verification).data)
        body: dict[str, Any] = {
            "code": result.outcome.value,
            "detail": CHECK_FAILURE_DETAIL[result.outcome],
        }
        if result.outcome is CheckOutcome.INVALID:
            body["attempts_left"] = result.attempts_left
        elif result.outcome is CheckOutcome.NOT_DELIVERED:
            # When the new code may be asked for (null: no more codes for this verification).
            body["resend_available_at"] = VerificationSerializer(verification).data[
                "resend_available_at"
            ]
        return Response(body, status=CHECK_FAILURE_STATUS[result.outcome])


class ResendView(PhoneVerifyView):
    schema_links = {"202": VERIFICATION_LINKS}

    @extend_schema(
        operation_id="resend_code",
        request=EmptyRequestSerializer,
        examples=[OpenApiExample("No data", {}, request_only=True)],
        responses={
            202: VerificationSerializer,
            404: ErrorSerializer,
            409: OpenApiResponse(ErrorSerializer, description="verification_closed"),
            429: OpenApiResponse(
                ErrorSerializer, description="resend_too_soon, too_many_sends, rate_limited"
            ),
            503: LIMITS_DOWN,
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        EmptyRequestSerializer(data=request.data).is_valid(raise_exception=True)
        verification = services.resend(pk, ip=client_ip(request), session=request.session)
        return Response(VerificationSerializer(verification).data, status=status.HTTP_202_ACCEPTED)


class PrefillListView(PhoneVerifyView):
    schema_links = {"202": {"GetPrefill": link_to("get_prefill", id="$response.body#/id")}}

    @extend_schema(
        operation_id="start_prefill",
        request=StartPrefillSerializer,
        examples=[
            OpenApiExample("French mobile", {"phone_number": "+33612345678"}, request_only=True)
        ],
        responses={
            202: StartedPrefillSerializer,
            400: ErrorSerializer,
            415: ErrorSerializer,
            429: RATE_LIMITED,
            503: OpenApiResponse(ErrorSerializer, description="prefill not available now"),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = StartPrefillSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        prefill = prefills.start_prefill(
            data["phone_number"],
            session=request.session,
            country=data.get("country"),
            ip=client_ip(request),
            return_url=_same_site_url(
                request, data.get("return_url") or request.headers.get("Referer")
            ),
        )
        return Response(StartedPrefillSerializer(prefill).data, status=status.HTTP_202_ACCEPTED)


class PrefillDetailView(PhoneVerifyView):
    @extend_schema(
        operation_id="get_prefill",
        responses={200: PrefillSerializer, 404: ErrorSerializer},
    )
    def get(self, request: Request, pk: str) -> Response:
        prefill = prefills.get_prefill(pk, request.session)
        if prefills.poll_due(prefill):
            # Without a worker this runs the poll now; with one, the lease keeps it single.
            jobs.hand_over("poll_prefill", str(prefill.pk))
            prefill.refresh_from_db()
        body: dict[str, Any] = {"id": prefill.pk, "status": prefill.status, "data": prefill.data}
        if prefill.status == IdentityPrefill.Status.ERROR:
            body.update(code=prefill.error, detail=prefills.error_detail(prefill))
        return Response(PrefillSerializer(body).data)


def prefill_return(request: HttpRequest, pk: str) -> HttpResponse:
    """The ``redirect_uri`` DQE sends the browser back to, with ``token`` and ``status``."""
    try:
        prefill = prefills.prefill_returned(
            pk,
            request.session,
            token=inputs.check_text(request.GET.get("token", "")),
            status=inputs.check_text(request.GET.get("status", "")),
        )
    except PhoneVerifyError as error:  # PrefillNotFound, MalformedRequest
        return JsonResponse(error.as_dict(), status=error.http_status)
    return HttpResponseRedirect(prefill.return_url)


def _same_site_url(request: Request, url: str | None) -> str:
    """``url`` if it points into this site, else ``/``: never an open redirect."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return "/"
