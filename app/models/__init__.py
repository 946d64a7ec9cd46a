"""SQLModel tables; importing this package registers every table on `metadata`."""

from sqlmodel import SQLModel

from app.models import assessment as assessment
from app.models import inventory as inventory

metadata = SQLModel.metadata
