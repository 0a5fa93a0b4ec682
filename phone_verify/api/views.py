"""HTTP mapping of the verification flow. No rule lives here: views call ``services``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import services
from ..models import ConsentRecord
from ..status import CheckOutcome
from . import errors
from .serializers import (
    CheckCodeSerializer,
    CheckedSerializer,
    ErrorSerializer,
    InvalidCodeSerializer,
    StartVerificationSerializer,
    VerificationSerializer,
)

# HTTP status of each check outcome other than success.
CHECK_FAILURE_STATUS = {
    CheckOutcome.INVALID: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.EXPIRED: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.ALREADY_VERIFIED: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.UNAVAILABLE: status.HTTP_400_BAD_REQUEST,
    CheckOutcome.LOCKED: status.HTTP_429_TOO_MANY_REQUESTS,
}
CHECK_FAILURE_DETAIL = {
    CheckOutcome.INVALID: _("This code is not right."),
    CheckOutcome.EXPIRED: _("This code has expired; ask for a new one."),
    CheckOutcome.ALREADY_VERIFIED: _("This verification is already done."),
    CheckOutcome.UNAVAILABLE: _("The code could not be delivered; start a new verification."),
    CheckOutcome.LOCKED: _("Too many wrong codes; start a new verification later."),
}

ERRORS = {400: ErrorSerializer, 404: ErrorSerializer, 415: ErrorSerializer}


def client_ip(request: Request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


class PhoneVerifyView(APIView):
    """Base of the app's API views: JSON only, anonymous allowed, our error shape."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]

    def get_exception_handler(self) -> Any:
        return errors.exception_handler


class VerificationListView(PhoneVerifyView):
    @extend_schema(
        operation_id="start_verification",
        request=StartVerificationSerializer,
        responses={201: VerificationSerializer, **ERRORS},
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
        )
        return Response(VerificationSerializer(verification).data, status=status.HTTP_201_CREATED)


class VerificationDetailView(PhoneVerifyView):
    @extend_schema(
        operation_id="get_verification", responses={200: VerificationSerializer, **ERRORS}
    )
    def get(self, request: Request, pk: str) -> Response:
        return Response(VerificationSerializer(services.get_verification(pk)).data)


class CheckCodeView(PhoneVerifyView):
    @extend_schema(
        operation_id="check_code",
        request=CheckCodeSerializer,
        responses={
            200: CheckedSerializer,
            400: OpenApiResponse(InvalidCodeSerializer, description="wrong, expired or malformed"),
            404: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="too_many_attempts"),
            503: OpenApiResponse(
                ErrorSerializer, description="provider_unavailable: try again, no attempt counted"
            ),
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        serializer = CheckCodeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.check_code(pk, serializer.validated_data["code"], ip=client_ip(request))
        verification = result.verification
        if result.verified:
            return Response(CheckedSerializer(verification).data)
        body: dict[str, Any] = {
            "code": result.outcome.value,
            "detail": CHECK_FAILURE_DETAIL[result.outcome],
        }
        if result.outcome is CheckOutcome.INVALID:
            body["attempts_left"] = result.attempts_left
        return Response(body, status=CHECK_FAILURE_STATUS[result.outcome])


class ResendView(PhoneVerifyView):
    @extend_schema(
        operation_id="resend_code",
        request=None,
        responses={
            202: VerificationSerializer,
            404: ErrorSerializer,
            429: OpenApiResponse(ErrorSerializer, description="resend_too_soon, too_many_sends"),
        },
    )
    def post(self, request: Request, pk: str) -> Response:
        verification = services.resend(pk)
        return Response(VerificationSerializer(verification).data, status=status.HTTP_202_ACCEPTED)
