"""The example project's pages: a signup page with phone verification, and "my consents"."""

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from phone_verify import services
from phone_verify.models import ConsentRecord, Verification
from phone_verify.receipts import receipt_json

from .forms import SignupForm, WithdrawForm


def signup(request):
    form = SignupForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        try:
            user = form.save()
        except ValidationError:
            pass  # another signup used this verification first: the form says so
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("consents")
    return render(request, "signup.html", {"form": form})


def _verified_phone(user):
    verification = (
        Verification.objects.filter(user=user, status="verified").order_by("-verified_at").first()
    )
    return verification.phone_number if verification else None


@login_required
def consents(request):
    phone = _verified_phone(request.user)
    current = services.current_consent(phone) if phone else None
    labels = {f.name: f.verbose_name for f in ConsentRecord._meta.fields}
    form = WithdrawForm(
        request.POST or None, granted=current.granted if current else [], labels=labels
    )
    if current and request.method == "POST" and form.is_valid():
        services.withdraw_consent(
            phone,
            form.cleaned_data["channels"],
            recorded_by=f"user:{request.user.pk}",
            ip=request.META.get("REMOTE_ADDR"),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        return redirect("consents")
    history = ConsentRecord.objects.for_phone(phone).order_by("-created_at") if phone else []
    return render(
        request,
        "consents.html",
        {"phone": phone, "current": current, "form": form, "history": history, "labels": labels},
    )


@login_required
def consent_receipt(request):
    """The signed receipt of the user's consent records: the file ``phone_verify_receipt``
    writes, to keep or hand to anyone who wants to check it."""
    phone = _verified_phone(request.user)
    if phone is None:
        raise Http404
    response = HttpResponse(receipt_json(phone), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="consent-receipt.json"'
    return response
