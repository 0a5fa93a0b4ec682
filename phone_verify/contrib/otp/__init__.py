"""A django-otp device over phone_verify: our SMS codes as a login's second factor.

Needs the ``otp`` extra (``pip install phone_verify[otp]``); add ``django_otp`` and
``phone_verify.contrib.otp`` to ``INSTALLED_APPS``.
"""
