"""What every review page of the app shares: read-only, an unknown page is a 404, extra pages
behind the view permission, phone numbers masked, parts of pages from templates."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponseBase
from django.template.loader import render_to_string
from django.urls import URLPattern, path
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _


class ReadOnlyMixin:
    """Nobody, superusers included, adds, changes or deletes these through the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReviewChangeList(ChangeList):
    """A page past the end (or before the start) is a 404, not a redirect to Django's
    "database error" page."""

    def get_results(self, request: HttpRequest) -> None:
        try:
            super().get_results(request)
        except IncorrectLookupParameters:  # raised here only for a page that does not exist
            raise Http404(_("No such page.")) from None


class ReviewAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Base of the app's admin pages: read-only, and an unknown page is a 404.

    A subclass adds pages beside its list by naming them in ``review_pages``, and context to
    its list through ``changelist_context``.
    """

    #: ``(route, view method name, URL name)`` of each page beside the list; each is behind the
    #: admin's login and the view permission on the model.
    review_pages: tuple[tuple[str, str, str], ...] = ()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return ReviewChangeList

    def get_urls(self) -> list[URLPattern]:
        pages = [
            path(
                route,
                self.admin_site.admin_view(self._viewers_only(getattr(self, view))),
                name=name,
            )
            for route, view, name in self.review_pages
        ]
        return [*pages, *super().get_urls()]

    def _viewers_only(
        self, view: Callable[..., HttpResponseBase]
    ) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not self.has_view_permission(request):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return guarded

    def changelist_context(self, request: HttpRequest) -> dict[str, Any]:
        """What the list's template needs beyond Django's own context."""
        return {}

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        context = {**(extra_context or {}), **self.changelist_context(request)}
        return super().changelist_view(request, context)


class MaskedPhoneMixin:
    """The phone number column: masked, as everywhere staff look (lists, logs)."""

    @admin.display(description=_("phone number"), ordering="phone_number")
    def masked_phone(self, obj: Any) -> str:
        return obj.masked_phone


def fragment(template: str, **context: Any) -> SafeString:
    """A part of a review page from ``templates/admin/phone_verify/<template>``. Autoescaping
    is on, as in every template: what records hold is shown as text, never read as markup."""
    return render_to_string(f"admin/phone_verify/{template}", context)
