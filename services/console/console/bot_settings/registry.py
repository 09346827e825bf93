"""Every settings section by its name in the URL, in the order the page lists them."""

from __future__ import annotations

from console.bot_settings.base import SectionForm
from console.bot_settings.budget import BudgetForm
from console.bot_settings.contacts import ContactsForm
from console.bot_settings.debounce import DebounceForm
from console.bot_settings.followups import FollowupsForm
from console.bot_settings.handover import HandoverForm
from console.bot_settings.hours import HoursForm
from console.bot_settings.model import ModelForm
from console.bot_settings.optout import OptOutForm
from console.bot_settings.persona import PersonaForm
from console.bot_settings.tools import ToolsForm

SECTIONS: dict[str, type[SectionForm]] = {
    cls.section: cls
    for cls in (
        PersonaForm,
        ModelForm,
        HoursForm,
        DebounceForm,
        HandoverForm,
        FollowupsForm,
        OptOutForm,
        ContactsForm,
        ToolsForm,
        BudgetForm,
    )
}
