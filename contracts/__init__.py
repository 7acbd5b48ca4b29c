"""The data that crosses between the API, the workflows and the activities (Temporal payloads): pydantic models
built on the rules of `aftersales`, no behaviour of their own."""
