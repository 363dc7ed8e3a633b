"""Client quotas (Kafka's ClientQuotaManager): the store AlterClientQuotas and DescribeClientQuotas
use (``store``) and the throttling of the clients over them in the request door (``throttle``)."""
