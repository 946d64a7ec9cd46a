"""SQLModel tables; importing this package registers every table on `metadata`."""

from sqlmodel import SQLModel

from app.models import assessment as assessment
from app.models import evaluation_state as evaluation_state
from app.models import inventory as inventory
from app.models import reporting as reporting
from app.models import runtime as runtime
from app.models import users as users

metadata = SQLModel.metadata
