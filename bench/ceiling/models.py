import uuid

from django.db import models


class Row(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4)
    phone_number = models.CharField(max_length=16)
    status = models.CharField(max_length=16, default="pending")
    code = models.CharField(max_length=64, blank=True)

    class Meta:
        app_label = "ceiling"

    def __str__(self) -> str:
        return str(self.id)
