"""Create: one INSERT, then the send outcome: one UPDATE (our flow's two commits of a create);
check: one UPDATE (its third commit). The code travels in the answer: nothing to look up."""

import secrets

from rest_framework.response import Response
from rest_framework.views import APIView

from .models import Row


class CeilingStart(APIView):
    authentication_classes: list = []

    def post(self, request):
        row = Row.objects.create(phone_number=request.data["phone_number"])
        code = f"{secrets.randbelow(10**6):06d}"
        Row.objects.filter(pk=row.pk).update(status="sent", code=code)
        return Response({"id": str(row.pk), "code": code}, status=201)


class CeilingCheck(APIView):
    authentication_classes: list = []

    def post(self, request, pk):
        Row.objects.filter(pk=pk, code=request.data["code"]).update(status="verified")
        return Response({"id": str(pk), "status": "verified"})
